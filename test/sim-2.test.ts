// Simulator seeds 101..200 (see sim-seeds.ts).
import { simSeeds } from './sim-seeds.js';

simSeeds(101, 200);
