import assert from 'node:assert/strict';
import { it } from 'node:test';
import { quorumSize, quorumVerdict } from './quorum.ts';

const votes = (...s: ('up' | 'down' | 'unknown')[]) => s.map((state) => ({ state }));

it('health: majority quorum is more than half of the probers', () => {
  assert.deepEqual(
    [1, 2, 3, 4, 5].map((n) => quorumSize('majority', n)),
    [1, 2, 2, 3, 3],
  );
  assert.equal(quorumSize(2, 4), 2);
  assert.throws(() => quorumSize(5, 4), { code: 'ERR_HEALTH_INVALID_OPTION' });
  assert.throws(() => quorumSize('majority', 0), { code: 'ERR_HEALTH_INVALID_OPTION' });
});

it('health: a verdict flips only on a quorum; ties and unknowns keep the previous one', () => {
  assert.equal(quorumVerdict(true, votes('down', 'up', 'up', 'up'), 3), true);
  assert.equal(quorumVerdict(true, votes('down', 'down', 'up', 'up'), 3), true);
  assert.equal(quorumVerdict(false, votes('down', 'down', 'up', 'up'), 3), false);
  assert.equal(quorumVerdict(true, votes('down', 'down', 'down', 'up'), 3), false);
  assert.equal(quorumVerdict(true, votes('down', 'down', 'unknown', 'unknown'), 3), true);
  assert.equal(quorumVerdict(false, votes('up', 'up', 'up', 'down'), 3), true);
  // a low fixed quorum still needs the agreeing side to outnumber the other
  assert.equal(quorumVerdict(true, votes('down', 'down', 'up', 'up'), 2), true);
  assert.equal(quorumVerdict(true, votes('down', 'down', 'up', 'unknown'), 2), false);
});
