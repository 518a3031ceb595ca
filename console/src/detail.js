// The drawer of one item of a list: opened at once with the list's row, then filled with the
// item as GET `path(id)` answers (its detail carries more than the row).
import { reactive } from 'vue'
import { api } from './api'
import { showError } from './actions'

export function useDetail(path) {
  const detail = reactive({ open: false, item: null })
  async function open(row) {
    detail.open = true
    detail.item = row
    try {
      detail.item = await api.get(path(row.id))
    } catch (e) {
      showError(e)
    }
  }
  return { detail, open }
}
