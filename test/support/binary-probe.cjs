'use strict';
// Preloaded into the packaged berth executable by test/integration/binary.test.ts
// (NODE_OPTIONS=--require). Once the executable has mounted its bundled files and
// started berth, it loads each runtime dependency named in $BERTH_PROBE_MODULES
// from inside the executable, puts several to a small real use, and writes what
// happened as JSON to $BERTH_PROBE_REPORT.
const { createRequire } = require('node:module');
const { writeFileSync } = require('node:fs');

const uses = {
  chalk: (lib) => new lib.Instance({ level: 1 }).red('x'),
  diff: (lib) => lib.createTwoFilesPatch('a', 'b', 'one\ntwo\n', 'one\n2\n'),
  enquirer: (lib) => Object.keys(lib.prompts).map((name) => `${name}:${typeof lib.prompts[name]}`).join(' '),
  'fastest-levenshtein': (lib) => lib.distance('hostz', 'hosts'),
  listr2: async (lib) => {
    const seen = [];
    await new lib.Listr([{ title: 't', task: () => void seen.push('ran') }], { renderer: 'silent' }).run();
    return seen.join();
  },
  ssh2: (lib, requireBundled) => {
    const { bindingAvailable } = requireBundled('ssh2/lib/protocol/crypto.js');
    const pair = lib.utils.generateKeyPairSync('ed25519');
    const key = lib.utils.parseKey(pair.private);
    const data = Buffer.from('berth');
    return { bindingAvailable, type: key.type, verified: key.verify(data, key.sign(data)) };
  },
  'tar-stream': (lib) =>
    new Promise((resolve, reject) => {
      const pack = lib.pack();
      const extract = lib.extract();
      const files = {};
      extract.on('entry', (header, stream, next) => {
        const chunks = [];
        stream.on('data', (c) => chunks.push(c));
        stream.on('end', () => {
          files[header.name] = Buffer.concat(chunks).toString();
          next();
        });
      });
      extract.on('finish', () => resolve(files));
      extract.on('error', reject);
      pack.entry({ name: 'hello.txt' }, 'hi');
      pack.finalize();
      pack.pipe(extract);
    }),
  yaml: (lib) => lib.parseDocument('hosts:\n  - name: vm1\n').toJS(),
  zod: (lib) => {
    const schema = lib.z.object({ port: lib.z.number().max(65535) });
    return { rejects: !schema.safeParse({ port: 70000 }).success, jsonSchemaType: lib.z.toJSONSchema(schema).type };
  },
};

setImmediate(async () => {
  // The executable sets argv[1] to its entry point inside the bundle.
  const entrypoint = process.argv[1];
  const requireBundled = createRequire(entrypoint);
  const modules = {};
  for (const name of JSON.parse(process.env.BERTH_PROBE_MODULES)) {
    try {
      const lib = requireBundled(name);
      const use = uses[name];
      modules[name] = { loaded: true, resolved: requireBundled.resolve(name), use: use ? await use(lib, requireBundled) : null };
    } catch (err) {
      modules[name] = { loaded: false, error: String((err && err.stack) || err) };
    }
  }
  writeFileSync(process.env.BERTH_PROBE_REPORT, JSON.stringify({ entrypoint, modules }, null, 2));
});
