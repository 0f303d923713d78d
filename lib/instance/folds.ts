// The folds an instance hosts beyond the engine's core ones, supplied by the modules that read them.

import type { Fold } from '../engine/fold.js';
import { adaptersFold } from '../dispatch/adapters.js';
import { dispatchesFold } from '../dispatch/records.js';
import { fleetRegistryFold } from '../fleet/registry.js';
import { assignmentsFold } from '../fleet/remote.js';
import { fanoutsFold } from '../fleet/fanout.js';
import { fleetControlFold } from '../fleet/control.js';

export const INSTANCE_FOLDS: ReadonlyArray<Fold<unknown>> = [adaptersFold, dispatchesFold, fleetRegistryFold, fleetControlFold, assignmentsFold, fanoutsFold] as ReadonlyArray<Fold<unknown>>;
