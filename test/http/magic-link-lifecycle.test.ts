import { magicLinkLifecycleTable, socketClient } from '../helpers/login-table-cases.js';

/** The one-time-link sequences (test/fixtures/magic-link-sequences.txt) over real sockets. */
magicLinkLifecycleTable(socketClient);
