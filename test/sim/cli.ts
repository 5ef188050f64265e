/** Entry point of `npm run sim` (see sim-cli.ts for the options). */
import { simMain } from './sim-cli.ts';

process.exitCode = await simMain(process.argv.slice(2), (line) => console.log(line));
