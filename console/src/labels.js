// Chinese labels of the names the API keeps stable (DESIGN §9).
export const CLASS_LABELS = {
  general: '一般基础性信息',
  restricted: '限定知悉范围信息',
  secret: '涉案类保密信息',
}
export const CLASS_SHORT = { general: '一般', restricted: '限定范围', secret: '涉案保密' }
export const CLASS_TAGS = { general: 'success', restricted: 'warning', secret: 'danger' }
export const CLASS_ORDER = ['general', 'restricted', 'secret']

export const RECORD_STATUS = { active: '有效', deleted: '已删除' }

export const REQUEST_STATUS = {
  pending: '待审批',
  approved: '已批准（待签收）',
  active: '已批准（授权有效）',
  expired: '授权已到期',
  revoked: '授权已撤销',
  denied: '已驳回',
  request_expired: '申请已过期',
}
export const REQUEST_STATUS_TAGS = {
  pending: 'warning',
  approved: 'primary',
  active: 'success',
  expired: 'info',
  revoked: 'info',
  denied: 'danger',
  request_expired: 'info',
}

export const ROLE_LABELS = {
  inspector: '巡视巡察干部',
  approver: '审批领导',
  security_officer: '安全保密员',
  admin: '系统管理员',
}

const pad = (n) => String(n).padStart(2, '0')

/** A time from the API as local "YYYY-MM-DD HH:mm". */
export function formatTime(value) {
  if (!value) return '—'
  const d = new Date(value)
  if (Number.isNaN(d.getTime())) return String(value)
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`
}

export function formatDuration(seconds) {
  if (!seconds) return '—'
  if (seconds % 86400 === 0) return `${seconds / 86400}天`
  if (seconds % 3600 === 0) return `${seconds / 3600}小时`
  return `${Math.round(seconds / 60)}分钟`
}
