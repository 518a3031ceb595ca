// Chinese labels of the names the API keeps stable (DESIGN §9).
export const CLASS_LABELS = {
  general: '一般基础性信息',
  restricted: '限定知悉范围信息',
  secret: '涉案类保密信息',
}
export const CLASS_SHORT = { general: '一般', restricted: '限定范围', secret: '涉案保密' }
export const CLASS_TAGS = { general: 'success', restricted: 'warning', secret: 'danger' }
export const CLASS_ORDER = ['general', 'restricted', 'secret']

// A list's 范围 filter: this node's own items or those of nodes below (summaries).
export const SCOPES = { own: '本单位', subtree: '下级单位' }

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
  system: '系统',
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

/** A share (0 to 1) as a percentage with one decimal; none as 0. */
export const percent = (value) => (value === null || value === undefined ? 0 : Math.round(value * 1000) / 10)

/** A file size for people: KB below one MB, MB above. */
export function formatSize(bytes) {
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`
}

// Relay orders (交办督办): a target's states (DESIGN §6), as the API labels them.
export const ORDER_STATES = {
  issued: '已下发',
  received: '已接收',
  acknowledged: '已确认',
  in_progress: '办理中',
  reported: '已报告',
  accepted: '已验收',
  returned: '退回重办',
  closed: '已办结',
}
export const ORDER_STATE_TAGS = {
  issued: 'info',
  received: 'info',
  acknowledged: 'primary',
  in_progress: 'primary',
  reported: 'warning',
  accepted: 'success',
  returned: 'danger',
  closed: 'success',
}

// The clue transfer ledger (移交台账).
export const LEDGER_STATUS = { transferred: '已移交', responded: '已反馈', closed: '已销号' }
export const LEDGER_STATUS_TAGS = { transferred: 'warning', responded: 'primary', closed: 'success' }

// Rectification to closure (整改落实): a demand's states, as the API labels them.
export const RECTIFICATION_STATES = {
  issued: '待整改',
  reported: '已报送整改情况',
  accepted: '评估通过',
  returned: '退回整改',
  closed: '已销号',
  reopened: '回头看复查',
}
export const RECTIFICATION_STATE_TAGS = {
  issued: 'warning',
  reported: 'primary',
  accepted: 'success',
  returned: 'danger',
  closed: 'success',
  reopened: 'warning',
}

// Inspected units, rounds and synchronised rounds (同步展开).
export const UNIT_KINDS = {
  party_organ: '党政机关部门',
  institution: '事业单位',
  state_enterprise: '国有企业',
  township: '乡镇（街道）',
  village: '村（社区）',
  other: '其他',
}
export const ROUND_KINDS = { regular: '常规巡察', special: '专项巡察', mobile: '机动巡察', lookback: '巡察“回头看”' }
export const ROUND_STATES = { planned: '已计划', in_progress: '巡察中', completed: '已完成' }
export const ROUND_STATE_TAGS = { planned: 'info', in_progress: 'primary', completed: 'success' }
export const LAUNCH_STATES = {
  issued: '已下发',
  received: '已接收',
  linked: '已关联',
  started: '已启动',
  completed: '已完成',
}
export const LAUNCH_STATE_TAGS = {
  issued: 'info',
  received: 'info',
  linked: 'warning',
  started: 'primary',
  completed: 'success',
}

// Audit actions as the chain records them; an action missing here shows its code.
export const AUDIT_ACTIONS = {
  read: '查阅',
  'read-stub': '查阅摘要',
  list: '列表查询',
  search: '全文检索',
  create: '新建',
  update: '修改',
  delete: '删除',
  request: '申请查阅',
  approve: '批准',
  deny: '驳回',
  revoke: '撤销授权',
  grant: '授权',
  release: '释放',
  login: '登录',
  logout: '退出登录',
  'login-failed': '登录失败',
  'user-lock': '账户锁定',
  'password-change': '修改密码',
  'user-add': '添加用户',
  'user-disable': '停用用户',
  'user-enable': '启用用户',
  'user-rotate-token': '更换令牌',
  'issue-order': '下发交办',
  'handle-order': '承办交办',
  'review-order': '审核交办',
  'read-order': '查看交办',
  'manage-ledger': '管理台账',
  'read-ledger': '查看台账',
  'read-stats': '查看统计',
  export: '导出',
  audit: '审计',
  verify: '审计链校验',
  checkpoint: '签署检查点',
  'federation-status': '查看联邦状态',
  'issue-join-code': '发放加入码',
  'join-request': '收到加入申请',
  'approve-join': '批准节点加入',
  'reject-join': '拒绝节点加入',
  'user-password': '设置密码',
  'change-password': '修改密码',
  'reject-envelope': '拒收报文',
  'ledger-transfer': '登记移交',
  'ledger-feedback': '登记反馈',
  'ledger-close': '销号',
  'create-rectification': '提出整改意见',
  'report-rectification': '报送整改情况',
  'evaluate-rectification': '评估整改情况',
  'close-rectification': '整改销号',
  'read-rectification': '查看整改',
  'rectification-issue': '提出整改意见',
  'rectification-report': '报送整改情况',
  'rectification-accept': '整改评估通过',
  'rectification-return': '退回整改',
  'rectification-close': '整改销号',
  'rectification-reopen': '整改回头看',
  'cite-evidence': '引用销号依据',
  'order-issue': '下发交办',
  'order-acknowledge': '确认交办',
  'order-progress': '报送进展',
  'order-report': '报告结果',
  'order-accept': '验收',
  'order-return': '退回重办',
  'order-close': '办结',
  attach: '添加附件',
  'read-released': '查阅已释放内容',
  'receive-release': '接收释放内容',
  'grant-expired': '授权到期',
  'purge-release': '清除释放内容',
  csrf: '安全校验失败',
  'order-receive': '接收交办',
  'request-access': '申请查阅',
  'request-withdrawn': '撤回申请',
  'request-expired': '申请逾期失效',
  'grant-event': '授权变更',
  'set-reporter': '登记举报人信息',
  'read-reporter': '查阅举报人信息',
  'release-reporter': '释放举报人信息',
  'receive-reporter': '接收举报人信息',
  'delete-reporter': '删除举报人信息',
  'purge-reporter': '清除举报人信息',
  'manage-units': '管理被巡察单位',
  'plan-round': '管理巡察轮次',
  'launch-round': '下发同步巡察',
  'read-rounds': '查看巡察轮次',
  'unit-create': '登记被巡察单位',
  'unit-update': '修改被巡察单位',
  'round-plan': '计划巡察轮次',
  'round-start': '启动巡察',
  'round-progress': '报送巡察进展',
  'round-complete': '完成巡察',
  'round-link': '关联同步巡察',
  'round-launch': '下发同步巡察',
  'round-launch-receive': '接收同步巡察',
  'round-launch-received': '同步巡察已接收',
  'round-launch-linked': '同步巡察已关联',
  'round-launch-started': '同步巡察已启动',
  'round-launch-completed': '同步巡察已完成',
}
export const AUDIT_OBJECTS = {
  record: '信息记录',
  access_request: '查阅申请',
  grant: '授权',
  order: '交办',
  ledger_item: '台账',
  ledger: '移交台账',
  rectification: '整改',
  stats: '统计',
  audit_log: '审计日志',
  audit_checkpoint: '审计检查点',
  dead_letter: '死信',
  federation: '联邦',
  user: '用户',
  session: '会话',
  'inspected-unit': '被巡察单位',
  'inspection-round': '巡察轮次',
  'round-launch': '同步巡察',
  coverage: '巡察全覆盖',
}

// Why an envelope was dead-lettered (DESIGN §10); a reason missing here shows its code.
export const DEAD_LETTER_REASONS = {
  replay: '重复投递',
  bad_signature: '签名无效',
  unknown_origin: '来源未知',
  not_in_subtree: '超出辖区',
  not_permitted: '越权操作',
  illegal_transition: '状态转换不合法',
  stale_version: '版本过旧',
  malformed: '格式错误',
  max_deliveries: '多次投递失败',
  quota_exceeded: '超出配额',
  rejected: '被拒绝',
  undecryptable: '无法解密',
  unknown_kind: '未知报文类型',
  not_your_channel: '通道不符',
  bad_subject: '主题不符',
  oversized: '报文过大',
  unknown_destination: '目的节点未知',
  uncertified_origin: '来源证书无效',
  revoked_origin: '来源已被吊销',
  certificate_forged: '证书签名伪造',
  certificate_not_parent: '证书非上级签发',
  certificate_unknown_issuer: '证书签发者未知',
  certificate_expired: '证书已过期',
  certificate_not_yet_valid: '证书尚未生效',
  certificate_conflict: '证书序号冲突',
  certificate_breaks_chain: '证书破坏信任链',
  certificate_malformed: '证书格式错误',
  revocation_not_ancestor: '吊销非上级发出',
  revocation_forged: '吊销签名伪造',
  revocation_malformed: '吊销格式错误',
  revocation_unknown_node: '吊销对象未知',
  origin_mismatch: '来源不符',
  resend_mismatch: '补发内容不符',
  classification_below_minimum: '密级低于类别下限',
  content_not_sealed: '内容未加密',
  content_not_allowed: '不得携带内容',
  not_a_party: '非指定知悉单位',
  not_addressed: '非收件节点',
  not_audience: '非受众节点',
  not_entitled: '无权接收',
  unknown_category: '类别未知',
  unknown_record: '记录未知',
  unknown_order: '交办未知',
  unknown_launch: '同步巡察未知',
  duplicate_name: '单位名称重复',
  unknown_grant: '授权未知',
  unknown_node: '节点未知',
  unknown_attachment: '附件未知',
  attachment_mismatch: '附件校验不符',
  handler_error: '处理出错',
}

export const TIER_ORDER = ['central', 'province', 'city', 'county']

/** Whether a time has passed. */
export const isPast = (value) => Boolean(value) && new Date(value).getTime() < Date.now()

/** An id shortened for people: its last 8 hex digits (random). Ids are UUIDv7, whose first
 * digits are the time they were made, so ids made the same day share them. */
export const shortId = (id) => (id ? id.slice(-8) : '')

/** A request's reason as people read it: an order's request carries the node's own note as its
 * reason (DESIGN §6), said here in Chinese. `nodeName` maps a node id to its name. */
export const requestReason = (r, nodeName) =>
  (r.order_id ? `交办附带的涉案类保密信息，供${nodeName(r.for_node)}承办人办理交办使用` : r.reason)
