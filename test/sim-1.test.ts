// Simulator seeds 1..100 (see sim-seeds.ts).
import { simSeeds } from './sim-seeds.js';

simSeeds(1, 100);
