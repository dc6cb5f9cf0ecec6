/**
 * Lets the event loop turn. `await` on tfjs data resolves as a microtask, so a long loop of steps never hands
 * control back on its own; without a turn, a kernel cannot send outputs, fire timers or see an interrupt.
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
