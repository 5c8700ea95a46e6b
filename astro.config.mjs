// @ts-check
import { defineConfig } from 'astro/config';
import starlight from '@astrojs/starlight';

// The lab server's address during `npm run dev`, so the dev site can reach its API and WebSocket.
const labServer = process.env.LAB_SERVER_URL ?? 'http://127.0.0.1:4321';

export default defineConfig({
  site: 'http://127.0.0.1:4321',
  trailingSlash: 'always',
  integrations: [
    starlight({
      title: 'ddev-lab',
      disable404Route: true,
      description: "How DDEV uses Docker: images, layers, containers, with live labs.",
      sidebar: [
        { label: 'Start here', items: [{ slug: 'index' }] },
        { label: 'Architecture', items: [{ autogenerate: { directory: 'architecture' } }] },
        { label: 'Labs', items: [{ autogenerate: { directory: 'labs' } }] },
        { label: 'Training', items: [{ autogenerate: { directory: 'training' } }] },
        { label: 'Reference', items: [{ autogenerate: { directory: 'reference' } }] },
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
