import * as core from '@actions/core';
import { exportImpl } from './export.ts';
import { readSettings } from './inputs.ts';
import { githubServices } from './services.ts';

/** The Action: every error reaches core.setFailed here, once. */
export async function run(): Promise<void> {
  try {
    const settings = readSettings();
    const services = githubServices({
      token: settings.githubToken,
      repository: settings.run.repository,
      apiUrl: process.env.GITHUB_API_URL ?? 'https://api.github.com',
    });
    await exportImpl(settings, services);
  } catch (error) {
    core.setFailed((error as Error).message);
  }
}
