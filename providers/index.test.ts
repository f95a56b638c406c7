import { describe, expect, it } from 'vitest';
import { PROVIDERS } from '../contracts/event.ts';
import { adapterForPrefix, adapters, customAdapter } from './index.ts';

describe('adapter registry', () => {
  it('has exactly one adapter per provider id, each with its own prefix', () => {
    expect(adapters.map((a) => a.id).sort()).toEqual([...PROVIDERS].sort());
    expect(new Set(adapters.map((a) => a.prefix)).size).toBe(adapters.length);
  });

  it('finds adapters by URL prefix', () => {
    for (const a of adapters) expect(adapterForPrefix(a.prefix)).toBe(a);
    expect(adapterForPrefix('openai')?.id).toBe('openai');
    expect(adapterForPrefix('azure')?.id).toBe('azure');
    expect(adapterForPrefix('mistral')).toBeUndefined();
    expect(adapterForPrefix('')).toBeUndefined();
  });

  it('exposes the custom adapter for Sightline-Target-Url routes', () => {
    expect(customAdapter.id).toBe('custom');
    expect(adapters).toContain(customAdapter);
  });

  it('the registry cannot be changed at run time', () => {
    expect(Object.isFrozen(adapters)).toBe(true);
  });
});
