import { defineConfig } from 'vitest/config';
import { loadEnv, type Plugin } from 'vite';

// The Go binary embeds ui/dist (ui/embed.go, `//go:embed all:dist`), and
// dist/.gitkeep keeps that pattern valid in a clone without a build.
// emptyOutDir removes it on every build; this puts it back, empty as it is
// in git, so a build never shows up as a deleted file in `git status`.
function keepGitkeep(): Plugin {
  return {
    name: 'rca-keep-gitkeep',
    apply: 'build',
    generateBundle() {
      this.emitFile({ type: 'asset', fileName: '.gitkeep', source: '' });
    },
  };
}

export default defineConfig(({ mode }) => {
  // Where `npm run dev` (and `vite preview`) forward /api and /metrics: the
  // Go service's default port, or RCA_API_TARGET from the environment or a
  // .env file (RCA_API_TARGET=http://127.0.0.1:8099 npm run dev). Only
  // VITE_* variables ever reach the browser bundle.
  const env = loadEnv(mode, '.', '');
  const apiTarget = env['RCA_API_TARGET'] || 'http://localhost:8001';
  const proxy = {
    // Event streams go through the same proxy, unbuffered.
    '/api': { target: apiTarget, changeOrigin: false },
    '/metrics': { target: apiTarget, changeOrigin: false },
  };

  return {
    base: '/',
    plugins: [keepGitkeep()],
    // JSX through Vite's own transform (oxc), React's automatic runtime:
    // no React plugin needed.
    oxc: {
      jsx: { runtime: 'automatic', importSource: 'react' },
    },
    server: { proxy },
    preview: { proxy },
    build: {
      outDir: 'dist',
      emptyOutDir: true,
      // Hashed file names under dist/assets/ (Vite's default): the Go
      // server caches assets/* as immutable and index.html as no-cache.
      assetsDir: 'assets',
      sourcemap: false,
    },
    test: {
      include: ['src/**/*.test.{ts,tsx}'],
      environment: 'node',
      restoreMocks: true,
      // The browser build of tus-js-client (what Vite bundles for the app),
      // not its Node build, which reads files from disk and cannot send a Blob.
      alias: {
        'tus-js-client': decodeURIComponent(new URL('./node_modules/tus-js-client/lib.esm/browser/index.js', import.meta.url).pathname),
      },
      server: { deps: { inline: ['tus-js-client'] } },
    },
  };
});
