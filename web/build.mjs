// Builds the UI into dist/ (committed, embedded by embed.go). Run: npm run build
import * as esbuild from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';

rmSync('dist', { recursive: true, force: true });
mkdirSync('dist/assets', { recursive: true });
await esbuild.build({
  entryPoints: { app: 'src/main.js', style: 'src/styles.css' },
  bundle: true,
  minify: true,
  sourcemap: false,
  target: ['es2020'],
  outdir: 'dist/assets',
  assetNames: '[name]-[hash]',
  loader: { '.png': 'file', '.svg': 'file' },
  legalComments: 'linked',
  logLevel: 'info',
});
copyFileSync('src/index.html', 'dist/index.html');
