/**
 * click's `prompt` and `confirm`, as patronictl uses them: the question goes to stdout followed by
 * `: ` (and `[default]` / `[y/N]`), the answer is one line of stdin (a terminal or a pipe); an
 * empty answer takes the default or asks again; a confirmation accepts y/yes/n/no in any case
 * (anything else: `Error: invalid input`, ask again); the end of stdin aborts the command
 * (`Aborted!`, exit 1). Answers are not trimmed (click does not trim them either), except for
 * confirmations.
 *
 * stdin is only read once a question is asked, so commands that ask nothing never hold it open.
 */
import { pyIntFromString } from '../../py/numbers.js';

/** The operator ended the input (click's `Abort`): `Aborted!`, exit code 1. */
export class Aborted extends Error {
  override readonly name = 'Aborted';
  constructor() {
    super('Aborted!');
  }
}

export interface TerminalIo {
  readonly input: NodeJS.ReadableStream;
  readonly write: (text: string) => void;
  /** where `Error: …` lines of invalid answers go (click: stdout) */
  readonly writeError?: (text: string) => void;
}

export class Terminal {
  private readonly lines: string[] = [];
  private buffer = '';
  private ended = false;
  private attached = false;
  private waiter: (() => void) | null = null;

  constructor(private readonly io: TerminalIo) {}

  private attach(): void {
    if (this.attached) return;
    this.attached = true;
    const input = this.io.input;
    input.setEncoding?.('utf8');
    input.on('data', (chunk: string | Buffer) => {
      this.buffer += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
      let nl = this.buffer.indexOf('\n');
      while (nl >= 0) {
        this.lines.push(this.buffer.slice(0, nl).replace(/\r$/, ''));
        this.buffer = this.buffer.slice(nl + 1);
        nl = this.buffer.indexOf('\n');
      }
      this.wake();
    });
    input.on('end', () => {
      if (this.buffer !== '') this.lines.push(this.buffer);
      this.buffer = '';
      this.ended = true;
      this.wake();
    });
    input.on('error', () => {
      this.ended = true;
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  /** The next line of input; Aborted at its end. */
  private async readLine(): Promise<string> {
    this.attach();
    this.io.input.resume?.();
    for (;;) {
      const line = this.lines.shift();
      if (line !== undefined) {
        this.io.input.pause?.();
        return line;
      }
      if (this.ended) throw new Aborted();
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
    }
  }

  /** click.prompt(text, default=…): the answer, the default for an empty answer, else ask again. */
  async prompt(text: string, options: { default?: string } = {}): Promise<string> {
    const question = options.default !== undefined ? `${text} [${options.default}]: ` : `${text}: `;
    for (;;) {
      this.io.write(question);
      const answer = await this.readLine();
      if (answer !== '') return answer;
      if (options.default !== undefined) return options.default;
    }
  }

  /** click.prompt(text, type=int). */
  async promptInt(text: string): Promise<number> {
    for (;;) {
      const answer = await this.prompt(text);
      const n = pyIntFromString(answer);
      if (n !== null) return Number(n);
      (this.io.writeError ?? this.io.write)(`Error: '${answer}' is not a valid integer.\n`);
    }
  }

  /** click.confirm(text, default=False). */
  async confirm(text: string, defaultAnswer = false): Promise<boolean> {
    for (;;) {
      this.io.write(`${text} [${defaultAnswer ? 'Y/n' : 'y/N'}]: `);
      const answer = (await this.readLine()).toLowerCase().trim();
      if (answer === 'y' || answer === 'yes') return true;
      if (answer === 'n' || answer === 'no') return false;
      if (answer === '') return defaultAnswer;
      (this.io.writeError ?? this.io.write)('Error: invalid input\n');
    }
  }
}
