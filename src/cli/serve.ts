import { type App, startApp } from '../app.js';
import { fail, loadOrExit } from './fail.js';

/** `portcullis serve`: start, and drain on SIGTERM/SIGINT (a second signal stops at once). */
export async function serve(configPath: string | undefined, anonymousMode: boolean): Promise<void> {
  const config = loadOrExit(configPath, anonymousMode);
  let app: App;
  try {
    app = await startApp(config);
  } catch (error) {
    fail(`portcullis: cannot start: ${(error as Error).message}`);
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      // A second signal: the operator does not want to wait for the drain.
      app.ctx.logger.warn({ signal }, 'second signal: stopping now');
      app.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
      return;
    }
    stopping = true;
    const drainMs = config.raw.server.drain_timeout;
    app.ctx.logger.info({ signal, drain_timeout_ms: drainMs }, 'shutting down');
    // The drain is bounded; closing the store and the mailer after it must not hang either.
    const force = setTimeout(() => {
      app.ctx.logger.error('shutdown did not finish in time: exiting anyway');
      process.exit(1);
    }, drainMs + 5000);
    force.unref();
    app.shutdown(drainMs).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
