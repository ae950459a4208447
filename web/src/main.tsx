import { StrictMode } from 'react'
import { createRoot } from 'react-dom/client'
import { registerSW } from 'virtual:pwa-register'

import { App } from './app/App'
import './index.css'

const root = document.getElementById('root')
if (root) {
  createRoot(root).render(
    <StrictMode>
      <App />
    </StrictMode>,
  )
}

// The service worker (vite.config.ts) lets the app open offline. In
// autoUpdate mode a new deploy's worker takes over at once and this page
// reloads into the new app; pending writes are stored, so none is lost.
registerSW({ immediate: true })
