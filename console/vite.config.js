// Builds the console into the Python package (node/web/app), committed so that installing
// fedshare needs no Node. CI rebuilds it from package-lock.json and fails if the output differs
// (run-tests.sh), so the build must be reproducible: content-hashed names, no timestamps, no
// absolute paths.
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'
import AutoImport from 'unplugin-auto-import/vite'
import Components from 'unplugin-vue-components/vite'
import { ElementPlusResolver } from 'unplugin-vue-components/resolvers'

export default defineConfig({
  base: '/',
  plugins: [
    vue(),
    // Element Plus components and services (ElMessage, ElMessageBox) imported on demand, with
    // only their own styles: the bundle carries what the screens use.
    AutoImport({ resolvers: [ElementPlusResolver()], dts: false }),
    Components({ resolvers: [ElementPlusResolver()], dts: false }),
  ],
  build: {
    outDir: fileURLToPath(new URL('../node/web/app', import.meta.url)),
    emptyOutDir: true,
    assetsDir: 'assets',
    sourcemap: false,
    reportCompressedSize: true,
    chunkSizeWarningLimit: 800,
  },
  server: {
    // `npm run dev` against a node on :8000 (fedshare node run).
    proxy: { '/api': 'http://127.0.0.1:8000' },
  },
})
