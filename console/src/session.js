// Who is logged in (GET /api/v1/session), shared by every screen, and the cached lookups every
// screen needs: the federation tree (node names and tiers) and the category table.
import { reactive } from 'vue'
import { api, setCsrfToken } from './api'

export const session = reactive({ me: null })

export async function loadSession() {
  const me = await api.get('/api/v1/session')
  session.me = me
  setCsrfToken(me.csrf_token)
  return me
}

export async function login(name, password) {
  const me = await api.post('/api/v1/session', { name, password })
  session.me = me
  setCsrfToken(me.csrf_token)
  return me
}

export async function logout() {
  try {
    await api.delete('/api/v1/session')
  } finally {
    forgetSession()
  }
}

export function forgetSession() {
  session.me = null
  setCsrfToken(null)
  cache.clear()
}

const cache = new Map()

function cached(key, load) {
  if (!cache.has(key)) {
    cache.set(key, load().catch((error) => { cache.delete(key); throw error }))
  }
  return cache.get(key)
}

/** The federation's nodes, parents first: [{id, name, parent, tier, tier_label}]. */
export const loadTree = () => cached('tree', () => api.get('/api/v1/federation/tree'))

/** Forget the cached tree (a child joined): the next loadTree reads it again. */
export const forgetTree = () => cache.delete('tree')

/** The category table: [{code, label_zh, min_class, min_class_label, approvals}]. */
export const loadCategories = () => cached('categories', () => api.get('/api/v1/categories'))
