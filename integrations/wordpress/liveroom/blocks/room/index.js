/* Liveroom meeting room block: plain JS on WordPress's globals, no build step.
 * The block renders on the server ([liveroom_room] with the same options). */
(function (wp) {
	'use strict';
	var el = wp.element.createElement;
	var __ = wp.i18n.__;
	var InspectorControls = wp.blockEditor.InspectorControls;
	var useBlockProps = wp.blockEditor.useBlockProps;
	var c = wp.components;

	wp.blocks.registerBlockType('liveroom/room', {
		edit: function (props) {
			var a = props.attributes;
			function set(key) {
				return function (v) {
					var o = {};
					o[key] = v;
					props.setAttributes(o);
				};
			}
			return el('div', useBlockProps({ className: 'liveroom-block-placeholder' }),
				el(InspectorControls, {},
					el(c.PanelBody, { title: __('Meeting room', 'liveroom') },
						el(c.TextControl, {
							label: __('Start (optional)', 'liveroom'),
							help: __('In the site\'s time zone, e.g. 2030-05-01 09:00. Empty: open now.', 'liveroom'),
							value: a.start, onChange: set('start')
						}),
						el(c.TextControl, {
							label: __('Duration in minutes (optional)', 'liveroom'),
							type: 'number', value: a.duration, onChange: set('duration')
						}),
						el(c.SelectControl, {
							label: __('Show the room', 'liveroom'),
							value: a.embed,
							options: [
								{ label: __('As in the settings', 'liveroom'), value: '' },
								{ label: __('Inside the page', 'liveroom'), value: 'yes' },
								{ label: __('As a link', 'liveroom'), value: 'no' }
							],
							onChange: set('embed')
						}),
						el(c.TextControl, {
							label: __('Height in pixels', 'liveroom'),
							type: 'number', value: a.height, onChange: set('height')
						})
					)
				),
				el('p', {}, '🎥 ' + __('Liveroom meeting room', 'liveroom') + (a.start ? ' · ' + a.start : '')),
				el('p', { className: 'description' }, __('Each logged-in visitor gets their own room with you here.', 'liveroom'))
			);
		},
		save: function () {
			return null;
		}
	});
}(window.wp));
