package agent

import "liveroom/proto/pb"

// overview answers AgentOverview: the account, its presence as the contact
// button without a room id sees it, and how busy it is. Integrations show
// this (the WordPress dashboard widget) and use it to check a key's agent.
func (g *grain) overview() *pb.AgentOverviewResult {
	if g.rec == nil {
		return &pb.AgentOverviewResult{Error: g.missing()}
	}
	return &pb.AgentOverviewResult{Id: g.rec.Id, Name: g.rec.Name, Presence: g.presenceFor(""),
		Visitors: uint32(len(g.visitors)), Waiting: uint32(len(g.queue))}
}
