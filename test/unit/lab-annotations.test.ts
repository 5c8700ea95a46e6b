import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  annotatedCommands,
  resolveTerminal,
  splitAnnotations,
} from '../../lab-server/src/labs/annotations.ts';
import { renderStepBody } from '../../src/components/lab/step-html.ts';

const terminals = [
  { id: 'web', title: 'web', service: 'web', shell: 'bash' as const },
  { id: 'db', title: 'db', service: 'db', shell: 'bash' as const },
];

describe('killercoda annotations', () => {
  test('fenced block with exec', () => {
    const commands = annotatedCommands('Run this:\n\n```\nps aux\nls\n```{{exec}}\n\nDone.');

    assert.deepEqual(commands, [
      { run: 'ps aux\nls', action: 'exec', terminal: undefined, interrupt: false, inline: false },
    ]);
  });

  test('inline exec T2 interrupt', () => {
    const commands = annotatedCommands('Stop it with `top`{{exec T2 interrupt}} now.');

    assert.deepEqual(commands, [
      { run: 'top', action: 'exec', terminal: 'T2', interrupt: true, inline: true },
    ]);
  });

  test('copy and katacoda execute', () => {
    const commands = annotatedCommands('`cat x`{{copy}} and `id`{{execute}}');

    assert.equal(commands[0]!.action, 'copy');
    assert.equal(commands[1]!.action, 'exec');
  });

  test('plain code block stays markdown', () => {
    const markdown = '```\n`ls`{{exec}}\n```\n\nthen\n\n```\nwhoami\n```{{exec}}';

    const parts = splitAnnotations(markdown);

    assert.equal(parts.length, 3);
    assert.deepEqual(parts[0], { kind: 'markdown', text: '```\n`ls`{{exec}}\n```' });
    assert.equal(parts[2]!.kind, 'command');
  });

  test('terminal by id or number', () => {
    const ids = ['web', 'db'];

    assert.equal(resolveTerminal(undefined, ids), 'web');
    assert.equal(resolveTerminal('db', ids), 'db');
    assert.equal(resolveTerminal('T2', ids), 'db');
    assert.equal(resolveTerminal('T3', ids), undefined);
    assert.equal(resolveTerminal('nope', ids), undefined);
  });

  test('render makes Run and Copy buttons', async () => {
    const html = await renderStepBody(
      'Try `a && b`{{exec T2}}.\n\n```\necho "<x>"\n```{{copy}}',
      terminals,
      async (text) => text,
    );

    assert.match(
      html,
      /<button type="button" class="lab-run" data-command="a &amp;&amp; b" data-terminal="db" data-interrupt="false" disabled>Run in db<\/button>/,
    );
    assert.match(html, /<pre><code>echo &quot;&lt;x&gt;&quot;<\/code><\/pre>/);
    assert.doesNotMatch(html.split('<pre')[1]!, /lab-run/);
  });
});
