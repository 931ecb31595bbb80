// Reads an OpenAI-style SSE response into its JSON events and whether it ended with [DONE].
export async function readEventStream(res: Response): Promise<{ events: Record<string, unknown>[]; done: boolean }> {
  const text = await res.text();
  const events: Record<string, unknown>[] = [];
  let done = false;
  for (const block of text.split('\n\n')) {
    const line = block.trim();
    if (!line) continue;
    if (!line.startsWith('data: ')) throw new Error(`not an SSE data event: ${JSON.stringify(line)}`);
    const data = line.slice('data: '.length);
    if (data === '[DONE]') {
      done = true;
      continue;
    }
    if (done) throw new Error(`event after [DONE]: ${data}`);
    events.push(JSON.parse(data) as Record<string, unknown>);
  }
  return { events, done };
}
