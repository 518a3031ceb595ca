// Every action shows its outcome: success in a message, or the API's error in Chinese.
import { ElMessage } from 'element-plus'
// Imported by hand, not through the resolver: its style comes with it only this way.
import 'element-plus/es/components/message/style/css'

/** Run `work`; show `success` (if given) or the translated error. Returns whether it worked. */
export async function runAction(work, success) {
  try {
    await work()
    if (success) ElMessage({ type: 'success', message: success, showClose: true })
    return true
  } catch (error) {
    showError(error)
    return false
  }
}

export function showError(error) {
  ElMessage({ type: 'error', message: error?.message || String(error), showClose: true, duration: 6000 })
}
