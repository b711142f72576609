import type { RawConfig } from '../config/schema.js';

export type LoginMethodId = RawConfig['auth']['enabled_auth'][number];
