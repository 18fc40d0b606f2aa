package main

// estimateCost prices one program run of the mock engine. It sits beside
// the engine's stack type and moves with it when the engine leaves the test
// files.
func estimateCost(st *stack, prices priceTable, usage map[string]assumption) (costEstimate, error) {
	resources := make([]costResource, 0, len(st.resources))
	for _, r := range st.resources {
		resources = append(resources, costResource{
			Type: r.Type, Name: r.Name, Parent: r.Parent, Inputs: r.Inputs, Outputs: r.Outputs,
		})
	}
	return estimateResources(resources, prices, usage)
}
