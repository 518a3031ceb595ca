// The one client of the node's REST API. Every call goes to the same origin with the session
// cookie; writes carry the session's CSRF token. Errors become ApiError, whose message is the
// API's stable error code translated to Chinese (errors.js).
import { errorMessage } from './errors'

let csrfToken = null
let sessionLost = () => {}

export function setCsrfToken(token) {
  csrfToken = token || null
}

/** Called when an authenticated call answers 401 (the session ended): the router logs out. */
export function onSessionLost(handler) {
  sessionLost = handler
}

export class ApiError extends Error {
  constructor(status, code, detail) {
    super(errorMessage(code, detail))
    this.status = status
    this.code = code
    this.detail = detail
  }
}

async function request(method, path, { params, body, file } = {}) {
  const url = new URL(path, window.location.origin)
  for (const [name, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== '') url.searchParams.set(name, value)
  }
  const headers = { Accept: 'application/json' }
  if (body !== undefined) headers['Content-Type'] = 'application/json'
  // A file is the raw body under its own type: the API checks that type against the bytes.
  if (file) headers['Content-Type'] = file.type || 'application/octet-stream'
  if (method !== 'GET' && csrfToken) headers['X-CSRF-Token'] = csrfToken
  let response
  try {
    response = await fetch(url, {
      method,
      headers,
      body: file ?? (body === undefined ? undefined : JSON.stringify(body)),
      credentials: 'same-origin',
    })
  } catch (error) {
    throw new ApiError(0, 'network_error', String(error))
  }
  if (response.status === 204) return null
  const data = await response.json().catch(() => null)
  if (!response.ok) {
    const error = new ApiError(response.status, data?.error ?? `http_${response.status}`, data?.detail)
    if (response.status === 401 && !(method === 'POST' && path === '/api/v1/session')) {
      sessionLost(error)
    }
    throw error
  }
  return data
}

export const api = {
  get: (path, params) => request('GET', path, { params }),
  post: (path, body) => request('POST', path, { body: body ?? {} }),
  patch: (path, body, params) => request('PATCH', path, { body, params }),
  delete: (path, params) => request('DELETE', path, { params }),
  /** POST a File (or Blob) as the request body itself, not multipart. */
  upload: (path, file, params) => request('POST', path, { file, params }),
}
