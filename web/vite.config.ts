import tailwindcss from '@tailwindcss/vite'
import react from '@vitejs/plugin-react'
import { defineConfig } from 'vite'

// `npm run dev` serves the app with hot reload and sends the API to a
// running tasksync server (TASKSYNC_URL, default http://127.0.0.1:8080).
const api = process.env.TASKSYNC_URL ?? 'http://127.0.0.1:8080'

export default defineConfig({
  plugins: [react(), tailwindcss()],
  server: {
    proxy: {
      '/auth': api,
      '/dev/mailbox': api,
      '/graphql': { target: api, ws: true },
    },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
  },
})
