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

/**
 * Submit a dialog's form: `form.busy` while `work` runs, the API's error kept in `form.error`
 * (shown in the dialog) as well as in a message, `success` shown and the dialog closed
 * (`form.open = false`) when it worked. Returns whether it worked.
 */
export async function submitDialog(form, work, success) {
  form.busy = true
  form.error = ''
  const done = await runAction(async () => {
    try {
      await work()
    } catch (error) {
      form.error = error.message
      throw error
    }
  }, success)
  form.busy = false
  if (done) form.open = false
  return done
}
