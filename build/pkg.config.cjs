'use strict';
// @yao-pkg/pkg configuration for the berth executable (used by build/package.ts;
// the entry point dist/cli/main.js is passed on the command line). Paths are
// relative to this directory (build/).
const { name, version, dependencies } = require('../package.json');

module.exports = {
  // Package-like: with the project's runtime dependencies listed, pkg bundles
  // each of them, not only what it finds by following require() from the entry.
  name,
  version,
  dependencies,
  pkg: {
    assets: ['../assets/**/*'],
    // pkg also adds every file a dependency lists under "files" in its
    // package.json: type definitions, TypeScript sources, source maps and ESM
    // twins of CommonJS builds, none of which a CommonJS program loads. They are
    // left out; test/integration/binary.test.ts proves the runtime libraries
    // still load inside the binary.
    ignore: [
      // ssh2's optional native addons are built for the build machine's Node,
      // not for the Node inside the binary: without them ssh2 runs in pure
      // JavaScript (AES-GCM comes from Node's own crypto).
      '**/node_modules/ssh2/lib/protocol/crypto/build/**',
      '**/node_modules/cpu-features/**',
      // Type definitions, TypeScript sources, source maps, documentation.
      '**/node_modules/**/*.ts',
      '**/node_modules/**/*.cts',
      '**/node_modules/**/*.mts',
      '**/node_modules/**/*.map',
      '**/node_modules/**/*.md',
      // ESM twins: require() resolves to the CommonJS build.
      '**/node_modules/zod/**/*.js', // "type": "module"; CommonJS is *.cjs
      '**/node_modules/zod/src/**',
      '**/node_modules/yaml/browser/**', // the export for non-Node runtimes
      '**/node_modules/yaml/dist/cli.mjs',
    ],
  },
};
