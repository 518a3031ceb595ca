// The API's stable error codes (`{"error": code, "detail": ...}`) in Chinese. A code missing
// here falls back to a generic sentence with the API's detail.
export const ERROR_MESSAGES = {
  // login and session
  invalid_credentials: '用户名或密码错误',
  account_locked: '登录失败次数过多，账户已暂时锁定，请稍后再试',
  session_expired: '登录已过期，请重新登录',
  user_disabled: '该用户已被停用',
  unauthenticated: '未登录或身份凭证无效',
  token_expired: '访问令牌已过期',
  csrf_failed: '安全校验失败，请刷新页面后重试',
  rate_limited: '失败请求过多，请稍后再试',
  wrong_password: '当前密码不正确',
  weak_password: '新密码至少8位，且至少包含4个不同字符',
  password_unchanged: '新密码不能与当前密码相同',
  // generic
  forbidden: '无权执行此操作（已记入审计日志）',
  not_found: '未找到请求的内容',
  invalid_input: '输入内容不符合要求',
  missing_field: '请填写必填项',
  malformed_json: '请求格式错误',
  malformed_body: '请求格式错误',
  invalid_text: '文本含有不允许的字符',
  invalid_unicode: '文本编码无效',
  invalid_id: '编号格式无效',
  invalid_cursor: '分页位置无效，请刷新后重试',
  payload_too_large: '内容过大',
  method_not_allowed: '不支持的操作',
  audit_unavailable: '审计日志暂不可写，操作已被拒绝',
  database_unavailable: '数据库暂不可用，请稍后重试',
  database_conflict: '数据发生冲突，请刷新后重试',
  database_error: '数据库错误，操作未保存',
  network_error: '无法连接服务器，请检查网络',
  // records
  record_not_found: '记录不存在或本单位未保存',
  ambiguous_record_id: '多个来源单位的记录使用了同一编号，请从记录列表中打开（须指明来源单位）',
  unknown_category: '未知的信息类别',
  unknown_class: '未知的信息分级',
  classification_below_minimum: '分级低于该类别的最低要求（只能提高，不能降低）',
  parties_required: '限定知悉范围信息须至少指定一个知悉单位',
  unknown_party: '知悉单位不存在',
  parties_removed: '已指定的知悉单位只能增加，不能移除',
  not_origin: '只有记录的来源单位可以修改或删除',
  record_deleted: '记录已删除',
  empty_update: '没有需要修改的内容',
  // release (申请查阅与审批)
  reason_required: '请填写申请理由',
  reason_too_vague: '申请理由过于简单，请具体说明查阅原因（至少8个字）',
  not_case_secret: '只有涉案类保密信息需要申请查阅',
  already_readable: '本单位可以直接查阅该记录',
  request_exists: '您对该记录已有未结束的申请',
  self_approval: '申请人不能审批本人的申请',
  request_expired: '该申请已超过审批期限',
  request_not_pending: '该申请已处理完毕',
  already_decided: '您已对该申请作出过决定',
  comment_required: '请填写审批意见',
  request_not_found: '查阅申请不存在',
  duration_too_long: '批准时只能缩短授权期限，不能延长',
  grant_not_found: '授权不存在',
  grant_revoked: '该授权已被撤销',
  grant_expired: '该授权已到期',
  unknown_user: '用户不存在',
  // relay orders (交办)
  order_closed: '该申请所属的交办已结束',
  access_request_not_confirmed: '附带涉案类保密信息的交办，须确认为承办单位申请查阅（经本单位审批人批准后方可查阅）',
  // reporter (举报人)
  reporter_not_allowed: '只有信访件和问题线索可以登记举报人',
  reporter_not_granted: '未获授权查阅举报人信息',
  reporter_author_only: '只有填报人可以登记或修改举报人信息',
  reporter_not_found: '该记录未登记举报人信息',
  // attachments (附件)
  attachment_to_stub: '只能在记录来源单位为记录添加附件，不能添加到摘要上',
  empty_file: '文件为空',
  file_too_large: '文件过大，超过上传限制',
  content_type_mismatch: '文件内容与声明的文件类型不符',
}

export function errorMessage(code, detail) {
  const known = ERROR_MESSAGES[code]
  if (known) return known
  const text = typeof detail === 'string' && detail ? `：${detail}` : ''
  return `操作失败（${code}）${text}`
}
