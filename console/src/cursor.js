// A list over one of the API's cursor-paginated collections: `fetchPage(cursor)` returns
// `{items, next_cursor}`; pages already seen are reached again through their cursors.
import { reactive } from 'vue'
import { api } from './api'
import { showError } from './actions'

export function useCursorList(fetchPage) {
  const state = reactive({ items: [], page: 1, hasNext: false, loading: false, error: '' })
  let cursors = [null]
  let nextCursor = null

  async function load(index) {
    state.loading = true
    state.error = ''
    try {
      const data = await fetchPage(cursors[index])
      state.items = data.items
      nextCursor = data.next_cursor
      state.hasNext = Boolean(nextCursor)
      state.page = index + 1
    } catch (error) {
      state.error = error.message
      showError(error)
    } finally {
      state.loading = false
    }
  }

  return {
    state,
    reload: () => { cursors = [null]; return load(0) },
    refresh: () => load(state.page - 1),
    next: () => {
      if (!nextCursor) return
      cursors = cursors.slice(0, state.page)
      cursors.push(nextCursor)
      return load(state.page)
    },
    prev: () => (state.page > 1 ? load(state.page - 2) : undefined),
  }
}

/** A cursor list over GET `path`, `params()` read again on every page (the screen's filters). */
export function useApiList(path, params = () => ({}), pageSize = 15) {
  return useCursorList((cursor) => api.get(path, { ...params(), cursor, limit: pageSize }))
}
