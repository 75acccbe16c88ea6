/** Checking an address a person typed before anything is signed: format, EIP-55 checksum, and not the sender itself. */
import { parseAddress, type Address } from '../../../protocol/address.js';

export type AddressCheck = { ok: true; address: Address; note?: string } | { ok: false; problem: string };

/** What the user should know about an address they typed. */
export function checkRecipient(input: string, self?: string): AddressCheck {
  const text = input.trim();
  if (text === '') return { ok: false, problem: 'Enter the address to send to.' };
  if (!/^0x[0-9a-fA-F]{40}$/.test(text)) return { ok: false, problem: 'An address is 0x followed by 40 hex digits.' };
  try {
    const address = parseAddress(text, 'address');
    if (self !== undefined && address === self.toLowerCase()) return { ok: false, problem: 'This is your own address.' };
    const body = text.slice(2);
    const note =
      body === body.toLowerCase() || body === body.toUpperCase()
        ? 'This address has no checksum (all one case), so a typo cannot be detected. Compare it carefully.'
        : undefined;
    return { ok: true, address, note };
  } catch {
    return { ok: false, problem: "The capital letters do not match this address's EIP-55 checksum: it is probably mistyped." };
  }
}
