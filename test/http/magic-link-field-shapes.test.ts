import { magicLinkFieldShapesTable, socketClient } from '../helpers/login-table-cases.js';

/** Repeated and list-shaped login form fields (test/fixtures/repeated-form-fields.txt) over real sockets. */
magicLinkFieldShapesTable(socketClient);
