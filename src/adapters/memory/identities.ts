import type { IdentityDirectory, IdentityLink } from '../../ports/identities.js';

export class MemoryIdentities implements IdentityDirectory {
  /** Keyed by `JSON.stringify([issuer, subject])`: no separator can make two pairs collide. */
  private readonly identities = new Map<string, IdentityLink>();

  async getIdentity(issuer: string, subject: string): Promise<IdentityLink | null> {
    const link = this.identities.get(JSON.stringify([issuer, subject]));
    return link ? structuredClone(link) : null;
  }

  async linkIdentity(link: IdentityLink): Promise<IdentityLink> {
    const key = JSON.stringify([link.issuer, link.subject]);
    const existing = this.identities.get(key);
    if (existing) return structuredClone(existing);
    this.identities.set(key, structuredClone(link));
    return structuredClone(link);
  }

  async updateIdentity(link: IdentityLink): Promise<void> {
    const key = JSON.stringify([link.issuer, link.subject]);
    if (this.identities.has(key)) this.identities.set(key, structuredClone(link));
  }

  async unlinkIdentity(issuer: string, subject: string): Promise<void> {
    this.identities.delete(JSON.stringify([issuer, subject]));
  }

  async listUserIdentities(userId: string): Promise<IdentityLink[]> {
    return [...this.identities.values()]
      .filter((link) => link.userId === userId)
      .map((link) => structuredClone(link));
  }
}
