import { describe, expect, it } from 'vitest';
import { ConversationStore, conversationPrompt, MAX_TURNS, type TextStorage, type Turn } from './conversation.js';

const user = (text: string): Turn => ({ role: 'user', text, at: 1 });
const model = (text: string): Turn => ({ role: 'model', text, at: 2, meta: { model: 'ailo', tokens: 3, notices: [], done: true } });

class MemoryStorage implements TextStorage {
  readonly map = new Map<string, string>();
  quota = Infinity;
  getItem(k: string): string | null {
    return this.map.get(k) ?? null;
  }
  setItem(k: string, v: string): void {
    if (v.length > this.quota) throw new Error('QuotaExceededError');
    this.map.set(k, v);
  }
  removeItem(k: string): void {
    this.map.delete(k);
  }
}

describe('conversation prompt', () => {
  it('is the conversation so far as text, ending where the model continues', () => {
    expect(conversationPrompt([user('Hello there')])).toBe('User: Hello there\nAilo:');
    // An answer keeps its own leading space; an empty answer (refused, stopped at once) is left out.
    expect(conversationPrompt([user('Hi'), model(' Hello.\nHow can I help?'), user('Tell me'), model('')])).toBe(
      'User: Hi\nAilo: Hello.\nHow can I help?\nUser: Tell me\nAilo:',
    );
  });

  it('leaves out the oldest turns to fit the limit, and keeps the end of a single long message', () => {
    const turns = [user('a'.repeat(30)), model(' b'.repeat(10)), user('c'.repeat(10))];
    expect(conversationPrompt(turns, 1000)).toBe(`User: ${'a'.repeat(30)}\nAilo:${' b'.repeat(10)}\nUser: ${'c'.repeat(10)}\nAilo:`);
    expect(conversationPrompt(turns, 50)).toBe(`Ailo:${' b'.repeat(10)}\nUser: ${'c'.repeat(10)}\nAilo:`);
    expect(conversationPrompt(turns, 25)).toBe(`User: ${'c'.repeat(10)}\nAilo:`);
    const long = conversationPrompt([user('x'.repeat(100))], 40);
    expect(long).toHaveLength(40);
    expect(long.endsWith('x\nAilo:')).toBe(true);
  });
});

describe('conversation store', () => {
  const address = '0xAbCdEf0123456789aBcDeF0123456789AbCdEf01';

  it('keeps each account its own conversation, by address in any case, and clears it', () => {
    const storage = new MemoryStorage();
    const store = new ConversationStore(storage);
    const turns = [user('Hi'), model(' Hello')];
    store.save(address, turns);
    expect(store.load(address.toLowerCase())).toEqual(turns);
    expect(store.load('0x' + '22'.repeat(20))).toEqual([]);
    store.clear(address);
    expect(store.load(address)).toEqual([]);
    expect(storage.map.size).toBe(0);
  });

  it('reads damaged or foreign data as no conversation, and drops turns that are not turns', () => {
    const storage = new MemoryStorage();
    const store = new ConversationStore(storage);
    const key = `ailo.chat.v1.${address.toLowerCase()}`;
    storage.setItem(key, '{not json');
    expect(store.load(address)).toEqual([]);
    storage.setItem(key, JSON.stringify({ turns: [] }));
    expect(store.load(address)).toEqual([]);
    storage.setItem(
      key,
      JSON.stringify([user('ok'), { role: 'model', text: 'no meta', at: 1 }, { role: 'system', text: 'x', at: 1 }, null, 5]),
    );
    expect(store.load(address)).toEqual([user('ok')]);
  });

  it(`keeps the last ${MAX_TURNS} turns, and half of them when the storage is full`, () => {
    const storage = new MemoryStorage();
    const store = new ConversationStore(storage);
    const many = Array.from({ length: MAX_TURNS + 10 }, (_, i) => user(`m${i}`));
    store.save(address, many);
    expect(store.load(address)).toEqual(many.slice(-MAX_TURNS));
    storage.quota = JSON.stringify(many.slice(-MAX_TURNS)).length - 1;
    store.save(address, many);
    expect(store.load(address)).toEqual(many.slice(-MAX_TURNS / 2));
  });
});
