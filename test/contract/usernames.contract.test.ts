import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import type { UserInput } from '../../src/ports/store.js';
import { OpenStores, storeKinds } from '../helpers/store-kinds.js';

/**
 * Usernames (SPEC §4, docs/usernames.md) on every store: derived at creation, unique
 * case-insensitively whatever the races, renamed only by `setUsername`, freed by renames and
 * deletions. Redis also upgrades records written before usernames existed, on first read.
 */
const kinds = storeKinds('usernames');

let counter = 0;
function person(email: string, username?: string): UserInput {
  counter += 1;
  return {
    id: `user-${counter}-${randomBytes(4).toString('hex')}`,
    ...(username === undefined ? {} : { username }),
    email,
    name: email,
    groups: [],
    active: true,
    verified: false,
    createdAt: 0,
    lastLoginAt: null,
  };
}

describe.each(kinds)('$name store: usernames', (kind) => {
  beforeAll(() => kind.setup());
  afterAll(() => kind.teardown());
  afterEach(() => kind.closeOpened());

  it("starts as the email's local part and is found case-insensitively on every instance", async () => {
    const { store, peer } = await kind.open();
    const ann = await store.createUser(person('Ann.Lee@example.com'));
    expect(ann.username).toBe('ann.lee');
    expect((await peer.getUser(ann.id))?.username).toBe('ann.lee');
    expect((await peer.getUserByUsername('ANN.LEE'))?.id).toBe(ann.id);
    expect(await peer.getUserByUsername('ann')).toBeNull();
  });

  it.each([
    ['anonymous@example.com', undefined],
    ['Anonymous@example.com', 'ANONYMOUS'],
    ['x@example.com', 'anonymous'],
  ])('never gives %s (wish %j) the reserved anonymous_user.id', async (email, wish) => {
    const { store, peer } = await kind.open();
    const user = await store.createUser(person(email, wish));
    expect(user.username.toLowerCase()).not.toBe('anonymous');
    expect(await peer.getUserByUsername('anonymous')).toBeNull();
  });

  it.each([
    ['Alice.Smith', 'Alice.Smith'],
    ['a.b@corp.example', 'a.b@corp.example'],
    ['John Smith, Jr.', 'John-Smith-Jr.'],
    ['ｊｏｓé', 'josé'],
    ['../../etc/passwd', '..-..-etc-passwd'],
    ['bob\r\nRemote-User: root', 'bob-Remote-User-root'],
    ['!!!', 'wish'],
    ['...', 'wish'],
    ['', 'wish'],
  ])('takes the wish %j as %j (else the local part)', async (wish, expected) => {
    const { store } = await kind.open();
    const user = await store.createUser(person('wish@example.com', wish));
    expect(user.username).toBe(expected);
  });

  it('gives a free variant when the name is taken, in any case, and never fails', async () => {
    const { store, peer } = await kind.open();
    const first = await store.createUser(person('alice@one.example'));
    const second = await peer.createUser(person('alice@two.example'));
    const third = await store.createUser(person('x@three.example', 'ALICE'));
    expect([first.username, second.username, third.username]).toEqual([
      'alice',
      'alice-2',
      'ALICE-3',
    ]);
    const long = 'l'.repeat(64);
    const a = await store.createUser(person('l1@example.com', long));
    const b = await store.createUser(person('l2@example.com', long));
    expect(a.username).toBe(long);
    expect(b.username).toBe(`${'l'.repeat(62)}-2`);
  });

  it('two instances creating users with one wish at once get distinct names', async () => {
    const { store, peer } = await kind.open();
    const made = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        (i % 2 ? peer : store).createUser(person(`racer${i}@example.com`, 'racer')),
      ),
    );
    const keys = made.map((u) => u.username.toLowerCase());
    expect(new Set(keys).size).toBe(made.length);
    for (const user of made) {
      expect((await peer.getUserByUsername(user.username))?.id).toBe(user.id);
      expect((await store.getUser(user.id))?.username).toBe(user.username);
    }
  });

  it('the same email created twice at once keeps one user whose name is findable', async () => {
    const { store, peer } = await kind.open();
    const [a, b] = await Promise.all([
      store.createUser(person('same@example.com')),
      peer.createUser(person('same@example.com')),
    ]);
    expect(a.id).toBe(b.id);
    expect((await store.getUserByUsername(a.username))?.id).toBe(a.id);
  });

  it('renames: old name free, new one found; case-only changes allowed', async () => {
    const { store, peer } = await kind.open();
    const kim = await store.createUser(person('kim@example.com'));
    const renamed = await peer.setUsername(kim.id, 'kimberly');
    expect(renamed).toMatchObject({ kind: 'ok', user: { id: kim.id, username: 'kimberly' } });
    expect((await store.getUser(kim.id))?.username).toBe('kimberly');
    expect((await store.getUserByUsername('Kimberly'))?.id).toBe(kim.id);
    expect(await store.getUserByUsername('kim')).toBeNull();
    const other = await store.createUser(person('kim@other.example'));
    expect(other.username).toBe('kim');
    expect(await store.setUsername(kim.id, 'Kimberly')).toMatchObject({
      kind: 'ok',
      user: { username: 'Kimberly' },
    });
    expect((await peer.getUserByUsername('kimberly'))?.username).toBe('Kimberly');
  });

  it("refuses another user's name in any case, and unknown users", async () => {
    const { store, peer } = await kind.open();
    const ann = await store.createUser(person('ann@example.com'));
    const bob = await store.createUser(person('bob@example.com'));
    expect(await peer.setUsername(bob.id, 'ANN')).toEqual({ kind: 'taken' });
    expect((await store.getUser(bob.id))?.username).toBe('bob');
    expect((await store.getUserByUsername('ann'))?.id).toBe(ann.id);
    expect(await store.setUsername('no-such-user', 'ghost')).toEqual({ kind: 'missing' });
    expect(await store.getUserByUsername('ghost')).toBeNull();
  });

  it('two renames onto one name at once: exactly one wins', async () => {
    const { store, peer } = await kind.open();
    const a = await store.createUser(person('a@example.com'));
    const b = await store.createUser(person('b@example.com'));
    const results = await Promise.all([
      store.setUsername(a.id, 'boss'),
      peer.setUsername(b.id, 'BOSS'),
    ]);
    expect(results.map((r) => r.kind).sort()).toEqual(['ok', 'taken']);
    const owner = await store.getUserByUsername('boss');
    expect([a.id, b.id]).toContain(owner?.id);
  });

  it('updateUser keeps the stored username, even from a record read before a rename', async () => {
    const { store, peer } = await kind.open();
    const lee = await store.createUser(person('lee@example.com'));
    await peer.setUsername(lee.id, 'leeroy');
    // A sign-in that read the record before the rename writes it back.
    await store.updateUser({ ...lee, name: 'Lee J', username: 'hijack' });
    const stored = await peer.getUser(lee.id);
    expect(stored).toMatchObject({ name: 'Lee J', username: 'leeroy' });
    expect(await store.getUserByUsername('hijack')).toBeNull();
    await store.updateUser({ ...lee, email: 'lee2@example.com' });
    expect((await peer.getUserByUsername('leeroy'))?.email).toBe('lee2@example.com');
  });

  it('deleting a user frees its name', async () => {
    const { store, peer } = await kind.open();
    const gone = await store.createUser(person('gone@example.com', 'ghost'));
    await store.deleteUser(gone.id);
    expect(await peer.getUserByUsername('ghost')).toBeNull();
    const next = await peer.createUser(person('next@example.com', 'ghost'));
    expect(next.username).toBe('ghost');
  });

  it('the admin search finds users by username', async () => {
    const { store } = await kind.open();
    const zed = await store.createUser(person('z@example.com'));
    await store.setUsername(zed.id, 'Zebulon');
    await store.createUser(person('y@example.com'));
    const found = await store.listUsers({ search: 'zebu', offset: 0, limit: 10 });
    expect(found.users.map((u) => u.id)).toEqual([zed.id]);
  });
});

describe('redis store: records from before usernames', () => {
  const [, redisKind] = storeKinds('usernames-legacy');
  const stores = new OpenStores();
  let raw: Redis;
  beforeAll(async () => {
    await redisKind?.setup();
    raw = new Redis(redisKind?.server()?.url as string);
  });
  afterAll(async () => {
    raw.disconnect();
    await stores.closeAll();
    await redisKind?.teardown();
  });

  /** Writes a user as an instance from before usernames did: record, email index, list index. */
  async function legacyUser(prefix: string, email: string, extra: object = {}): Promise<string> {
    const id = `legacy-${randomBytes(4).toString('hex')}`;
    const record = {
      id,
      email,
      name: 'Old',
      groups: ['staff'],
      active: true,
      verified: true,
      createdAt: 1,
      lastLoginAt: null,
      ...extra,
    };
    await raw.set(`${prefix}u:${id}`, JSON.stringify(record));
    await raw.set(`${prefix}ue:${email}`, id);
    await raw.zadd(`${prefix}index:users`, 0, `${email}\u0000${id}`);
    return id;
  }

  async function open() {
    const server = redisKind?.server();
    if (!server) throw new Error('redis-server was not started');
    const prefix = `legacy:${randomBytes(6).toString('hex')}:`;
    const clock = new ManualClock();
    return {
      prefix,
      store: await stores.redis(server, prefix, clock),
      peer: await stores.redis(server, prefix, clock),
    };
  }

  it('gives each one a unique username on first read, once, on every path', async () => {
    const { prefix, store, peer } = await open();
    const taken = await store.createUser(person('sam@new.example'));
    expect(taken.username).toBe('sam');
    const sam = await legacyUser(prefix, 'sam@old.example');
    const upn = await legacyUser(prefix, 'u@old.example', { userName: 'Uma.P@corp.example' });
    const [a, b] = await Promise.all([store.getUser(sam), peer.getUser(sam)]);
    expect(a?.username).toBe('sam-2');
    expect(b?.username).toBe('sam-2');
    expect((await peer.getUserByEmail('u@old.example'))?.username).toBe('Uma.P@corp.example');
    expect((await store.getUserByUsername('sam-2'))?.id).toBe(sam);
    expect(JSON.parse((await raw.get(`${prefix}u:${sam}`)) as string).username).toBe('sam-2');
    expect(JSON.parse((await raw.get(`${prefix}u:${upn}`)) as string).groups).toEqual(['staff']);
    // The other paths see the same name: listing, updating, renaming.
    const third = await legacyUser(prefix, 'tia@old.example');
    const listed = await store.listUsers({ offset: 0, limit: 10 });
    expect(listed.users.find((u) => u.id === third)?.username).toBe('tia');
    const fourth = await legacyUser(prefix, 'vic@old.example');
    const old = JSON.parse((await raw.get(`${prefix}u:${fourth}`)) as string);
    await peer.updateUser({ ...old, name: 'Vic' });
    expect(await store.getUser(fourth)).toMatchObject({ name: 'Vic', username: 'vic' });
  });

  it('takes over a name whose owner record is gone', async () => {
    const { prefix, store } = await open();
    await raw.set(`${prefix}un:orphan`, 'deleted-user-id');
    const user = await store.createUser(person('orphan@example.com'));
    expect(user.username).toBe('orphan');
    expect(await raw.get(`${prefix}un:orphan`)).toBe(user.id);
  });
});
