/** Bad input from the user (batch list, tracker, ledger, references): the message names the place to fix. */
export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}
