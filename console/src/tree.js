// The federation tree as the screens use it: names by id, this node's subtree (the filters'
// 单位), the nodes below it as a tree (the pickers of addressees), and whether it has any.
import { computed, ref } from 'vue'
import { loadTree, session } from './session'

export function useTree() {
  const nodes = ref([])
  const own = computed(() => session.me?.node)
  const nodeName = (id) => nodes.value.find((n) => n.id === id)?.name ?? id

  // This node and every node below it, parents first.
  const subtreeNodes = computed(() => {
    const below = new Set([own.value])
    for (const n of nodes.value) if (below.has(n.parent)) below.add(n.id)
    return nodes.value.filter((n) => below.has(n.id))
  })
  // The same as a FilterSelect's options: [id, name].
  const subtreeOptions = computed(() => subtreeNodes.value.map((n) => [n.id, n.name]))
  // The nodes below this one as a tree, by Chinese name and tier.
  const belowTree = computed(() => {
    const byParent = new Map()
    for (const n of nodes.value) {
      if (!byParent.has(n.parent)) byParent.set(n.parent, [])
      byParent.get(n.parent).push(n)
    }
    const build = (n) => ({
      value: n.id,
      label: `${n.name}（${n.tier_label}）`,
      children: (byParent.get(n.id) || []).map(build),
    })
    return (byParent.get(own.value) || []).map(build)
  })
  const hasSubtree = computed(() => nodes.value.some((n) => n.parent === own.value))
  const hasParent = computed(() => Boolean(nodes.value.find((n) => n.id === own.value)?.parent))

  async function load() {
    nodes.value = await loadTree()
  }

  return { nodes, load, nodeName, subtreeNodes, subtreeOptions, belowTree, hasSubtree, hasParent }
}
