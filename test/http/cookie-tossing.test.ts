import { cookieTossingTable, socketClient } from '../helpers/login-table-cases.js';

/** The cookie-tossing table (test/fixtures/csrf-cases.json, test/helpers/login-table-cases.ts) over real sockets. */
cookieTossingTable(socketClient);
