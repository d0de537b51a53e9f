/**
 * Colour on the command line: only when the stream is a terminal, and never when NO_COLOR is set
 * to anything but the empty string (https://no-color.org). Commander's help follows the same rule
 * (main.ts wires it in), so piped output and logs never carry escape codes.
 */

export interface Stream {
  isTTY?: boolean;
}

export function colourEnabled(stream: Stream, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  return stream.isTTY === true;
}

export interface Paint {
  bold(text: string): string;
  dim(text: string): string;
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  cyan(text: string): string;
}

const sgr = (on: number, off: number) => (text: string) => `\x1b[${on}m${text}\x1b[${off}m`;
const plain = (text: string) => text;

/** Styles for `stream`: SGR codes, or the text unchanged when colour is off. */
export function paint(stream: Stream, env: NodeJS.ProcessEnv = process.env): Paint {
  const on = colourEnabled(stream, env);
  return {
    bold: on ? sgr(1, 22) : plain,
    dim: on ? sgr(2, 22) : plain,
    red: on ? sgr(31, 39) : plain,
    green: on ? sgr(32, 39) : plain,
    yellow: on ? sgr(33, 39) : plain,
    cyan: on ? sgr(36, 39) : plain,
  };
}
