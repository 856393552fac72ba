import { describe, expect, it } from 'vitest';
import { mayChangeJob } from './useDegraded';

// The UI's copy of the server's rule (jobs.Policy), used to disable the
// cancel and dispatch buttons with the reason before the server says 403.
describe('mayChangeJob', () => {
  const mine = { owner_id: 'u1' };
  it('lets the owner change their job', () => expect(mayChangeJob(mine, 'u1', 'owner')).toBe(true));
  it("refuses another user's job", () => expect(mayChangeJob(mine, 'u2', 'owner')).toBe(false));
  it('treats an unknown visibility as owner-only', () => expect(mayChangeJob(mine, 'u2', undefined)).toBe(false));
  it('lets everyone under team visibility', () => expect(mayChangeJob(mine, 'u2', 'team')).toBe(true));
  it('lets anyone change a job nobody owns', () => expect(mayChangeJob({ owner_id: null }, 'u2', 'owner')).toBe(true));
});
