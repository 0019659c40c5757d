import { runBatch } from '../core/batch.ts';
import { Sources } from '../core/sources.ts';
import { TOOL_VERSION } from '../core/version.ts';
import { parseCommandLine, UsageError, USAGE } from './args.ts';
import { progressReporter } from '../core/progress.ts';
import { resultJson } from '../core/result-json.ts';
import { formatReport } from './report.ts';

/** The CLI: returns the exit code (0 done, 1 failed, 2 bad usage); every error is reported here, once. */
export async function run(argv: string[]): Promise<number> {
  let command;
  try {
    command = parseCommandLine(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`batch-serialize: ${error.message}\n\n${USAGE}\n`);
    return 2;
  }
  if (command.kind === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (command.kind === 'version') {
    process.stdout.write(`${TOOL_VERSION}\n`);
    return 0;
  }

  const sources = new Sources({ insecureRegistries: command.insecureRegistries });
  try {
    const result = await runBatch(command.settings, sources, progressReporter(process.stderr));
    process.stdout.write(
      command.json ? `${JSON.stringify(resultJson(result, command.settings.dryRun), null, 2)}\n` : `${formatReport(result, command.settings.dryRun)}\n`,
    );
    return 0;
  } catch (error) {
    process.stderr.write(`batch-serialize: error: ${(error as Error).message}\n`);
    return 1;
  } finally {
    await sources.close();
  }
}
