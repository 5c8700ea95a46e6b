// @ts-check
import { defineConfig } from 'astro/config';
import starlight from '@astrojs/starlight';
import { readdirSync, readFileSync } from 'node:fs';

/**
 * Lists a folder of content/docs as sidebar entries, ordered by each page's `sidebar.order` and
 * then by file name. Starlight's `autogenerate` looks only in src/content/docs, and the guide
 * lives in content/docs.
 */
/** @param {string} folder */
function sidebarItems(folder) {
  const pages = readdirSync(new URL(`./content/docs/${folder}/`, import.meta.url))
    .filter((name) => /\.mdx?$/.test(name) && !name.startsWith('_'))
    .map((name) => {
      const text = readFileSync(
        new URL(`./content/docs/${folder}/${name}`, import.meta.url),
        'utf8',
      );
      const order = /^sidebar:\s*\n(?:\s+.*\n)*?\s+order:\s*(\d+)/m.exec(text)?.[1];
      return {
        slug: `${folder}/${name.replace(/\.mdx?$/, '')}`,
        order: order === undefined ? 1000 : Number(order),
        name,
      };
    });

  pages.sort((a, b) => a.order - b.order || a.name.localeCompare(b.name));
  return pages.map(({ slug }) => ({ slug }));
}

// The lab server's address during `npm run dev`, so the dev site can reach its API and WebSocket.
const labServer = process.env.LAB_SERVER_URL ?? 'http://127.0.0.1:4321';

export default defineConfig({
  site: 'http://127.0.0.1:4321',
  trailingSlash: 'always',
  integrations: [
    starlight({
      title: 'ddev-lab',
      disable404Route: true,
      description: 'How DDEV uses Docker: images, layers, containers, with live labs.',
      sidebar: [
        { label: 'Start here', items: [{ slug: 'index' }] },
        { label: 'Architecture', items: sidebarItems('architecture') },
        { label: 'Labs', items: sidebarItems('labs') },
        { label: 'Training', items: sidebarItems('training') },
        { label: 'Reference', items: sidebarItems('reference') },
      ],
      expressiveCode: {
        themes: ['github-dark', 'github-light'],
      },
      customCss: ['./src/styles/lab.css', './src/styles/guide.css'],
    }),
  ],
  server: { port: 4322, host: '127.0.0.1' },
  vite: {
    server: {
      proxy: {
        '/api': { target: labServer, changeOrigin: false },
        '/ws': { target: labServer.replace(/^http/, 'ws'), ws: true },
      },
    },
  },
});
