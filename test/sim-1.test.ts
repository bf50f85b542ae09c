// Simulator seeds 1..80 (see sim-seeds.ts).
import { simSeeds } from './sim-seeds.js';

simSeeds(1, 80);
