/** Minimal pino-compatible logger (`logger.info({ dataDir }, 'text')`); pino's own logger fits. */
export interface EngineLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export const silentLogger: EngineLogger = { debug() {}, info() {}, warn() {}, error() {} };
