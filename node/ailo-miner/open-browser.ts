/** Opens a URL in the desktop's browser (xdg-open, open, start); where there is none, the URL is in the log to open by hand. */
import { spawn } from 'node:child_process';

export function openInBrowser(url: string, log: (line: string) => void): void {
  const [command, args] =
    process.platform === 'darwin'
      ? ['open', [url]]
      : process.platform === 'win32'
        ? ['cmd', ['/c', 'start', '""', url]]
        : ['xdg-open', [url]];
  const done = (why: string): void => log(`could not open a browser (${why}); open ${url} yourself`);
  try {
    const child = spawn(command, args, { stdio: 'ignore', detached: true });
    child.once('error', (err) => done(err.message));
    child.once('exit', (code) => {
      if (code !== 0 && code !== null) done(`${command} exited with ${code}`);
    });
    child.unref();
  } catch (err) {
    done((err as Error).message);
  }
}
