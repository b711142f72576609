import { csrfTable, socketClient } from '../helpers/login-table-cases.js';

/** The CSRF table (test/helpers/login-table-cases.ts) over real sockets. */
csrfTable(socketClient);
