import type { IdentityDirectory, IdentityLink } from '../../ports/identities.js';
import type { RedisContext } from './context.js';

/** Keys: `ident:<issuer>:<sub>` a link (JSON), `uident:<userId>` a user's identity keys. */
export class RedisIdentities implements IdentityDirectory {
  constructor(private readonly ctx: RedisContext) {}

  /** `ident:<issuer>:<sub>`, both URI-encoded so a `:` in either cannot make two pairs collide. */
  private identityKey(issuer: string, subject: string): string {
    return this.ctx.key('ident', `${encodeURIComponent(issuer)}:${encodeURIComponent(subject)}`);
  }

  async getIdentity(issuer: string, subject: string): Promise<IdentityLink | null> {
    const data = await this.ctx.client.get(this.identityKey(issuer, subject));
    return data ? (JSON.parse(data) as IdentityLink) : null;
  }

  /** `uident:<userId>`: a set of identity keys, a superset of the user's links (see `linkIdentity`). */
  private userIdentitiesKey(userId: string): string {
    return this.ctx.key('uident', userId);
  }

  async linkIdentity(link: IdentityLink): Promise<IdentityLink> {
    const key = this.identityKey(link.issuer, link.subject);
    const index = this.userIdentitiesKey(link.userId);
    // Indexed before the link exists, so a crash in between leaves an extra index entry (which
    // `listUserIdentities` skips), never a link the index misses.
    await this.ctx.client.sadd(index, key);
    // SET NX: of two instances linking the same identity at once, exactly one link is stored.
    // A retry covers a link deleted between the SET and the GET.
    for (let attempt = 0; attempt < 3; attempt++) {
      if ((await this.ctx.client.set(key, JSON.stringify(link), 'NX')) === 'OK') return link;
      const data = await this.ctx.client.get(key);
      if (data) {
        const stored = JSON.parse(data) as IdentityLink;
        if (stored.userId !== link.userId) await this.ctx.client.srem(index, key);
        return stored;
      }
    }
    throw new Error('identity link keeps changing');
  }

  async updateIdentity(link: IdentityLink): Promise<void> {
    const key = this.identityKey(link.issuer, link.subject);
    // Every sign-in updates its link: this also indexes links stored before the index existed.
    if ((await this.ctx.client.set(key, JSON.stringify(link), 'XX')) === 'OK')
      await this.ctx.client.sadd(this.userIdentitiesKey(link.userId), key);
  }

  async unlinkIdentity(issuer: string, subject: string): Promise<void> {
    const key = this.identityKey(issuer, subject);
    const data = await this.ctx.client.get(key);
    await this.ctx.client.del(key);
    if (data)
      await this.ctx.client.srem(
        this.userIdentitiesKey((JSON.parse(data) as IdentityLink).userId),
        key,
      );
  }

  async listUserIdentities(userId: string): Promise<IdentityLink[]> {
    const keys = await this.ctx.client.smembers(this.userIdentitiesKey(userId));
    const found = await Promise.all(keys.map((key) => this.ctx.client.get(key)));
    return found
      .map((data) => (data ? (JSON.parse(data) as IdentityLink) : null))
      .filter((link): link is IdentityLink => link?.userId === userId);
  }
}
