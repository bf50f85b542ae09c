// Simulator seeds 81..160 (see sim-seeds.ts).
import { simSeeds } from './sim-seeds.js';

simSeeds(81, 160);
