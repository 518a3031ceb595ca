// The screens. To add one: a view in views/, and a child route below with `meta.title` (the
// header and the browser tab), `meta.menu: true` to list it in the side menu (`meta.roles` to
// show it to some roles only), and its first path segment in CLIENT_ROUTES of
// node/api/console.py (so a reload of its address gets the app).
import { createRouter, createWebHistory } from 'vue-router'
import { onSessionLost } from './api'
import { forgetSession, loadSession, session } from './session'
import AppLayout from './components/AppLayout.vue'
import LoginView from './views/LoginView.vue'

export const routes = [
  { path: '/login', name: 'login', component: LoginView, meta: { public: true, title: '登录' } },
  {
    path: '/',
    component: AppLayout,
    children: [
      { path: '', redirect: '/records' },
      {
        path: 'records',
        name: 'records',
        component: () => import('./views/RecordsView.vue'),
        meta: { title: '信息记录', menu: true, icon: 'Document' },
      },
      // A record is identified by its origin and id: links carry `?origin=` (the id alone
      // answers 409 ambiguous_record_id when records of several origins share it).
      {
        path: 'records/:id',
        name: 'record',
        component: () => import('./views/RecordDetailView.vue'),
        meta: { title: '记录详情', parent: 'records' },
      },
      {
        path: 'approvals',
        name: 'approvals',
        component: () => import('./views/ApprovalsView.vue'),
        // Admins neither ask for nor decide access to records.
        meta: { title: '审批', menu: true, icon: 'Stamp', roles: ['inspector', 'approver', 'security_officer'] },
      },
      {
        path: 'orders',
        name: 'orders',
        component: () => import('./views/OrdersView.vue'),
        meta: { title: '交办督办', menu: true, roles: ['inspector', 'approver', 'security_officer'] },
      },
      {
        path: 'ledger',
        name: 'ledger',
        component: () => import('./views/LedgerView.vue'),
        meta: { title: '移交台账', menu: true, roles: ['inspector', 'approver', 'security_officer'] },
      },
      {
        path: 'rectifications',
        name: 'rectifications',
        component: () => import('./views/RectificationsView.vue'),
        meta: { title: '整改落实', menu: true, roles: ['inspector', 'approver', 'security_officer'] },
      },
      {
        path: 'rounds',
        name: 'rounds',
        component: () => import('./views/RoundsView.vue'),
        meta: { title: '巡察全覆盖', menu: true },
      },
      {
        path: 'launches',
        name: 'launches',
        component: () => import('./views/LaunchesView.vue'),
        meta: { title: '同步巡察', menu: true },
      },
      {
        path: 'stats',
        name: 'stats',
        component: () => import('./views/StatsView.vue'),
        meta: { title: '统计', menu: true, roles: ['inspector', 'approver', 'security_officer'] },
      },
      {
        path: 'security',
        name: 'security',
        component: () => import('./views/SecurityView.vue'),
        meta: { title: '安全审计', menu: true, roles: ['security_officer'] },
      },
      {
        path: 'federation',
        name: 'federation',
        component: () => import('./views/FederationView.vue'),
        meta: { title: '联邦', menu: true, roles: ['admin', 'security_officer'] },
      },
    ],
  },
  { path: '/:rest(.*)*', redirect: '/records' },
]

export const router = createRouter({ history: createWebHistory(), routes })

router.beforeEach(async (to) => {
  if (to.meta.public) return true
  if (session.me) return true
  try {
    await loadSession()
    return true
  } catch {
    return { name: 'login', query: to.fullPath === '/' ? {} : { redirect: to.fullPath } }
  }
})

router.afterEach((to) => {
  document.title = `${to.meta.title ?? ''} · 巡视巡察上下联动信息共享平台`
})

onSessionLost(() => {
  forgetSession()
  const current = router.currentRoute.value
  if (!current.meta.public) {
    router.replace({ name: 'login', query: { redirect: current.fullPath, expired: '1' } })
  }
})

/** The side menu: the child routes that ask for it and that the user's role may see. */
export function menuRoutes(role) {
  const layout = routes.find((route) => route.path === '/')
  return layout.children.filter(
    (route) => route.meta?.menu && (!route.meta.roles || route.meta.roles.includes(role)),
  )
}
